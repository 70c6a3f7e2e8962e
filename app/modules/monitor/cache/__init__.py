"""Cache status and clearing one namespace (`/api/v1/monitor/cache`)."""
