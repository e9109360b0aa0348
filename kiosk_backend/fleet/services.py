"""The fleet's services: what routes, the CLI, jobs and other domains call.

The code lives in one module per topic; this module gathers their public functions so
that callers depend on "the fleet's services", not on how the fleet is split up:

| module | topic |
|---|---|
| enrolment.py | one-time codes, activation, credentials, authorize / revoke / rotate / re-enrol |
| heartbeats.py | heartbeats (a fast path for unchanged beats), heartbeat history |
| commands.py | commands to kiosks: issue, deliver, acknowledge |
| overview.py | status of each kiosk for the console, kiosks per site |
| alerts.py | offline, paper-out and peripheral alerts |
| usage.py | usage statistics |

Every function takes the session and explicit arguments, flushes, and raises domain
errors; the caller commits. ``site_ids`` arguments scope a site manager to their sites
(None = every site).
"""
from __future__ import annotations

from .alerts import acknowledge_alert, evaluate_offline_alerts, list_alerts
from .commands import (
                       COMMAND_TTL_MINUTES,
                       INTERRUPTING,
                       SETTINGS_KEYS,
                       ack_command,
                       commands_of,
                       due_commands,
                       issue_command,
)
from .enrolment import (
                       CODE_ALPHABET,
                       CODE_LENGTH,
                       EnrolmentRefused,
                       activate,
                       authenticate,
                       authorize,
                       create_enrolment_code,
                       create_reenrolment_code,
                       enrolment_codes,
                       format_code,
                       get_kiosk,
                       normalize_code,
                       record_refused_activation,
                       request_rotation,
                       revoke,
                       revoke_credential_and_reenrol,
                       rotate_credential,
)
from .heartbeats import heartbeat_history, record_heartbeat
from .overview import fleet, kiosk_counts, kiosks_at, status_of
from .usage import record_usage, usage_series

__all__ = [
    "COMMAND_TTL_MINUTES", "INTERRUPTING", "SETTINGS_KEYS", "CODE_ALPHABET", "CODE_LENGTH", "EnrolmentRefused",
    "ack_command", "acknowledge_alert", "activate", "authenticate", "authorize", "commands_of", "create_enrolment_code",
    "create_reenrolment_code", "due_commands", "enrolment_codes", "evaluate_offline_alerts", "fleet", "format_code",
    "get_kiosk", "heartbeat_history", "issue_command", "kiosk_counts", "kiosks_at", "list_alerts", "normalize_code",
    "record_heartbeat", "record_refused_activation", "record_usage", "request_rotation", "revoke",
    "revoke_credential_and_reenrol", "rotate_credential", "status_of", "usage_series",
]
