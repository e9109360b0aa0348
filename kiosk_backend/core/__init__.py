"""Domain-free plumbing shared by every domain: base model, clock, errors, i18n, printing."""
