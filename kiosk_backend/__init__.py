"""kiosk-backend: backend and touch-screen UI for government-service self-service kiosks."""

__version__ = "0.1.0"
