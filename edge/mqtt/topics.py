"""Topic names, in one place."""

from __future__ import annotations

from dataclasses import dataclass

ROOT = "gatepost"


@dataclass(frozen=True)
class Topics:
    site: str
    gate: str

    @property
    def base(self) -> str:
        return f"{ROOT}/{self.site}/{self.gate}"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def event(self) -> str:
        return f"{self.base}/event"

    @property
    def alarm(self) -> str:
        return f"{self.base}/alarm"

    @property
    def snapshot(self) -> str:
        """Face snapshots, where the operator has the gate send them (storage.snapshots_to_collector)."""
        return f"{self.base}/snapshot"

    @property
    def telemetry(self) -> str:
        return f"{self.base}/telemetry"

    @property
    def ack(self) -> str:
        """Collectors confirm stored event ids here."""
        return f"{self.base}/ack"

    @property
    def commands(self) -> str:
        return f"{self.base}/cmd/+"

    def command(self, name: str) -> str:
        return f"{self.base}/cmd/{name}"

    def reply(self, nonce: str) -> str:
        return f"{self.base}/reply/{nonce}"

    @property
    def residents(self) -> str:
        """Site-wide resident records (retained), one topic per resident."""
        return f"{ROOT}/{self.site}/residents/+"

    def resident(self, uid: str) -> str:
        return f"{ROOT}/{self.site}/residents/{uid}"

    def pass_uses(self, pass_key: str) -> str:
        """This gate's use count of one visitor pass (retained): the other gates of the site add it to theirs."""
        return f"{self.base}/pass_uses/{pass_key}"

    @property
    def site_pass_uses(self) -> str:
        return f"{ROOT}/{self.site}/+/pass_uses/+"

    def site_pass(self, pass_key: str) -> str:
        """A site-wide visitor pass record (retained, signed by an administrator): a revocation."""
        return f"{ROOT}/{self.site}/passes/{pass_key}"

    @property
    def site_passes(self) -> str:
        return f"{ROOT}/{self.site}/passes/+"

    @property
    def site_groups(self) -> str:
        """Access groups edited site-wide (retained, signed by an administrator), one topic per group."""
        return f"{ROOT}/{self.site}/groups/+"

    def site_group(self, name: str) -> str:
        return f"{ROOT}/{self.site}/groups/{name}"

    def movement(self, person_key: str) -> str:
        """This gate's newest movement of one person (retained): anti-passback at the site's other gates."""
        return f"{self.base}/movements/{person_key}"

    @property
    def site_movements(self) -> str:
        return f"{ROOT}/{self.site}/+/movements/+"
