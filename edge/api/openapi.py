"""The API's OpenAPI 3.1 document: served at /api/v1/openapi.json, and what the tests build their client from."""

from __future__ import annotations

from typing import Any

from edge.api_tokens import SCOPES

VERSION = "1.0.0"

ERROR = {"type": "object", "required": ["ok", "error"],
         "properties": {"ok": {"const": False}, "error": {"type": "string"}}}
RESIDENT = {"type": "object", "required": ["id", "uid", "name", "unit", "templates"],
            "properties": {"id": {"type": "integer"}, "uid": {"type": "string"}, "name": {"type": "string"},
                           "unit": {"type": "string"}, "templates": {"type": "integer"}}}
STATUS = {"type": "object", "required": ["ok", "site", "gate", "faults", "frames", "decisions", "outbox", "relay_open"],
          "properties": {"ok": {"const": True}, "site": {"type": "string"}, "gate": {"type": "string"},
                         "faults": {"type": "object", "additionalProperties": {"type": "string"}},
                         "frames": {"type": "integer"}, "decisions": {"type": "integer"},
                         "outbox": {"type": "integer"}, "relay_open": {"type": "boolean"},
                         "mqtt_connected": {"type": ["boolean", "null"]},
                         "inputs": {"type": ["object", "null"]}, "warnings": {"type": "array",
                                                                               "items": {"type": "string"}}}}
EVENTS = {"type": "object", "required": ["ok", "events", "next"],
          "properties": {"ok": {"const": True}, "next": {"type": "integer", "minimum": 0},
                         "events": {"type": "array", "items": {
                             "type": "object", "required": ["event_id", "kind", "time"],
                             "properties": {"event_id": {"type": "string"}, "kind": {"type": "string"},
                                            "time": {"type": "number"}}}}}}

NUMBER = {"type": "string", "pattern": "^[0-9]{1,20}$", "description": "the card's number as the reader gives it"}
CARD_SCHEMAS = {
    "Cards": {"type": "object", "required": ["ok", "cards"], "properties": {"ok": {"const": True}, "cards": {
        "type": "array", "items": {"type": "object", "required": ["card", "resident_id", "name"], "properties": {
            "card": {"type": "string", "description": "the last four digits"}, "resident_id": {"type": "integer"},
            "name": {"type": "string"}, "created": {"type": "number"}}}}}},
    "GiveCard": {"type": "object", "required": ["resident_id", "number"],
                 "properties": {"resident_id": {"type": "integer"}, "number": NUMBER}},
    "Given": {"type": "object", "required": ["ok", "card"], "properties": {"ok": {"const": True},
                                                                           "card": {"type": "string"}}},
    "TakeCard": {"type": "object", "required": ["number"], "properties": {"number": NUMBER}},
    "Group": {"type": "object", "required": ["group"],
              "properties": {"group": {"type": ["string", "null"], "minLength": 1, "maxLength": 64}}},
}
REVOKE = {"type": "object", "required": ["pass_id"],
          "properties": {"pass_id": {"type": "string", "minLength": 1, "maxLength": 64}}}


def _response(schema_ref: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": schema_ref}}}}


def _operation(operation_id: str, summary: str, scope: str, ok: dict, *, body: str | None = None,
               parameters: list[dict] | None = None) -> dict:
    operation: dict[str, Any] = {
        "operationId": operation_id, "summary": summary, "security": [{"token": []}],
        "x-scope": scope, "parameters": parameters or [],
        "responses": {"200": ok, "400": _response("#/components/schemas/Error", "the request is wrong (the field named)"),
                      "401": _response("#/components/schemas/Error", "no valid token"),
                      "403": _response("#/components/schemas/Error", f"the token lacks {scope}"),
                      "429": _response("#/components/schemas/Error", "too many requests: wait and retry")}}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": {"$ref": body}}}}
    return operation


def document() -> dict[str, Any]:
    ok = {"type": "object", "required": ["ok"], "properties": {"ok": {"const": True}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "gatepost gate API", "version": VERSION,
                 "description": "One gate's API for a property platform. Every call takes `Authorization: Bearer "
                                "<token>` (`gatepost api tokens add`); each operation names the scope it needs "
                                f"(x-scope): {', '.join(SCOPES)}."},
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": ERROR, "Resident": RESIDENT, "Status": STATUS, "Events": EVENTS, "Ok": ok,
                        "Residents": {"type": "object", "required": ["ok", "residents"],
                                      "properties": {"ok": {"const": True}, "residents": {
                                          "type": "array", "items": {"$ref": "#/components/schemas/Resident"}}}},
                        "Passes": {"type": "object", "required": ["ok", "passes"],
                                   "properties": {"ok": {"const": True}, "passes": {"type": "array",
                                                                                     "items": {"type": "object"}}}},
                        "Revoke": REVOKE, **CARD_SCHEMAS,
                        "Open": {"type": "object", "required": ["reason"],
                                 "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 200}}},
                        "Enrol": {"type": "object", "required": ["name", "photos"], "properties": {
                            "name": {"type": "string", "minLength": 1, "maxLength": 100},
                            "unit": {"type": "string", "maxLength": 50},
                            "photos": {"type": "array", "minItems": 1, "maxItems": 5,
                                       "items": {"type": "string", "contentEncoding": "base64",
                                                 "description": "a JPEG or PNG of the resident's face"}}}},
                        "Enrolled": {"type": "object", "required": ["ok", "id", "uid", "kept"], "properties": {
                            "ok": {"const": True}, "id": {"type": "integer"}, "uid": {"type": "string"},
                            "kept": {"type": "array", "items": {"type": "integer"}},
                            "warnings": {"type": "array", "items": {"type": "string"}}}}}},
        "paths": {**_paths(), **_card_paths()},
    }


def _paths() -> dict[str, Any]:
    return {
        "/api/v1/status": {"get": _operation("getStatus", "The gate's status", "status:read",
                                             _response("#/components/schemas/Status", "the status"))},
        "/api/v1/events": {"get": _operation(
            "listEvents", "Events recorded after a cursor, oldest first", "events:read",
            _response("#/components/schemas/Events", "a page of events and the next cursor"),
            parameters=[{"name": "after", "in": "query", "schema": {"type": "integer", "minimum": 0},
                         "description": "the `next` of the previous page (0: from the first kept)"},
                        {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                                    "maximum": 500}}])},
        "/api/v1/residents": {
            "get": _operation("listResidents", "Residents", "residents:read",
                              _response("#/components/schemas/Residents", "every resident")),
            "post": _operation("enrolResident", "Enrol a resident from photos (refused if already enrolled)",
                               "residents:write", _response("#/components/schemas/Enrolled", "enrolled"),
                               body="#/components/schemas/Enrol")},
        "/api/v1/residents/{id}": {"delete": _operation(
            "removeResident", "Remove a resident and their templates", "residents:write",
            _response("#/components/schemas/Ok", "removed"),
            parameters=[{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}])},
        "/api/v1/passes": {"get": _operation("listPasses", "Passes seen or revoked", "passes:read",
                                             _response("#/components/schemas/Passes", "the passes"))},
        "/api/v1/passes/revoke": {"post": _operation(
            "revokePass", "Refuse a visitor pass at this gate from now on", "passes:write",
            _response("#/components/schemas/Ok", "revoked"), body="#/components/schemas/Revoke")},
        "/api/v1/open": {"post": _operation("openGate", "Open the gate once", "gate:open",
                                            _response("#/components/schemas/Ok", "opened"),
                                            body="#/components/schemas/Open")},
    }


def _card_paths() -> dict[str, Any]:
    resident_id = [{"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}]
    return {
        "/api/v1/cards": {
            "get": _operation("listCards", "Residents' cards, by their last four digits", "cards:read",
                              _response("#/components/schemas/Cards", "the cards")),
            "post": _operation("giveCard", "Give a resident a card (kept only as a keyed hash)", "cards:write",
                               _response("#/components/schemas/Given", "the card's label"),
                               body="#/components/schemas/GiveCard")},
        "/api/v1/cards/remove": {"post": _operation(
            "takeCard", "Take a card back: it opens nothing from now on", "cards:write",
            _response("#/components/schemas/Ok", "taken back"), body="#/components/schemas/TakeCard")},
        "/api/v1/residents/{id}/group": {"put": _operation(
            "setGroup", "Put a resident in an access group (checks.schedule), or in none", "residents:write",
            _response("#/components/schemas/Ok", "set"), body="#/components/schemas/Group", parameters=resident_id)},
    }
