"""The gate's state, by concern, in one SQLite database (see `database.py`).

`Store` is all of them over one connection, as the daemon opens it; a part that needs one concern
takes that class (`EventJournal` for the MQTT link, `GuardRecords` for the guards' book,
`PassRecords` for pass verification).
"""

from edge.store.api_tokens import ApiTokenRecords, TokenRecord
from edge.store.cards import CardRecord, CardRecords
from edge.store.database import BUSY_TIMEOUT_S, DB_NAME, MIGRATIONS, Database
from edge.store.groups import GroupRecords
from edge.store.guards import GuardRecord, GuardRecords
from edge.store.journal import EventJournal, OutboxItem
from edge.store.movements import Movement, MovementRecords
from edge.store.nonces import CommandNonces
from edge.store.passes import PassRecord, PassRecords
from edge.store.residents import Gallery, Resident, ResidentRecords, TemplateRecord
from edge.store.thermal import OffsetChange, Recheck, ThermalRecords
from edge.store.webhooks import WebhookQueue


class Store(ResidentRecords, EventJournal, PassRecords, GuardRecords, CommandNonces, ThermalRecords, WebhookQueue,
            ApiTokenRecords, CardRecords, MovementRecords, GroupRecords):
    """Every concern of the gate's state over one connection."""


__all__ = ["ApiTokenRecords", "BUSY_TIMEOUT_S", "CardRecord", "CardRecords", "DB_NAME", "MIGRATIONS", "CommandNonces", "Database", "EventJournal", "Gallery", "GroupRecords",
           "GuardRecord", "GuardRecords", "Movement", "MovementRecords", "OffsetChange", "OutboxItem", "PassRecord", "PassRecords", "Recheck", "Resident",
           "ResidentRecords", "Store", "TemplateRecord", "ThermalRecords", "TokenRecord",
           "WebhookQueue"]
