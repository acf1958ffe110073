"""Web Push: browsers' push subscriptions and sending to them (RFC 8030, 8291, 8292)."""
