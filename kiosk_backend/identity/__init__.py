"""Staff accounts and API tokens (residents and QR login come with their own issue)."""
