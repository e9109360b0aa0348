"""Every string the kiosk and admin templates show comes from kiosk_ui/messages.json, in
both languages: a key missing from the catalogue would appear on screen as the key itself."""
from __future__ import annotations

import re

import pytest

from kiosk_backend.core.i18n import LANGUAGES, UI_ROOT, catalogue
from kiosk_backend.core.outbox import MessageState
from kiosk_backend.fleet.models import ALERT_KINDS, COMMAND_KINDS, KIOSK_STATES
from kiosk_backend.fleet.states import STATUS_LABELS
from kiosk_backend.identity.models import ROLES
from kiosk_backend.sites.models import SITE_KINDS

TEMPLATES = UI_ROOT / "templates"
LITERAL_KEY = re.compile(r"""\bt(?:_in)?\((?:[^,()]+,\s*)?'([a-z][a-z0-9_.]+)'""")

# Keys built from a value (t('admin.status.' ~ key)): every value the data can hold.
DYNAMIC = {
    "admin.status.": [*STATUS_LABELS, "pending", "revoked"],
    "admin.state.": KIOSK_STATES,
    "admin.alert_kind.": ALERT_KINDS,
    "admin.site_kind.": list(SITE_KINDS),
    "admin.command.": COMMAND_KINDS,
    "admin.role.": ROLES,
    "admin.day.": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    "admin.kiosk.": ["authorize", "rotate", "revoke"],
    "admin.job_state.": list(MessageState),
}


def _used_keys(surface: str) -> set[str]:
    keys = set()
    for path in sorted((TEMPLATES / surface).glob("*.html")):
        keys.update(LITERAL_KEY.findall(path.read_text(encoding="utf-8")))
    return {key for key in keys if not key.endswith(".")}


@pytest.mark.parametrize("surface", ["kiosk", "admin"])
def test_every_key_a_template_uses_is_in_the_catalogue_in_both_languages(surface):
    used = _used_keys(surface)
    assert used, f"no t('...') calls found in templates/{surface}"
    missing = sorted(key for key in used if key not in catalogue())
    assert not missing, missing
    untranslated = sorted(key for key in used for lang in LANGUAGES if not catalogue()[key].get(lang))
    assert not untranslated, untranslated


@pytest.mark.parametrize("prefix", sorted(DYNAMIC))
def test_keys_built_from_data_exist_for_every_value(prefix):
    missing = [prefix + value for value in DYNAMIC[prefix] if prefix + value not in catalogue()]
    assert not missing, missing


def test_admin_templates_carry_no_hard_coded_chinese():
    # Translated text lives in the catalogue; templates only hold markup and keys.
    han = re.compile(r"[\u4e00-\u9fff]")
    offenders = {path.name: [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if han.search(line)]
                 for path in sorted((TEMPLATES / "admin").glob("*.html"))}
    offenders = {name: lines for name, lines in offenders.items() if lines}
    assert not offenders, offenders
