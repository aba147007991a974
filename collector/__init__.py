"""The cloud collector: gate events, alarms and status from MQTT into SQLite or PostgreSQL."""
