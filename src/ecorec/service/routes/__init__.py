"""One router per resource: recommend, events, users, health."""
