"""Courier delivery of documents (邮政寄递): bookings, pickup slots, carriers, tracking."""
