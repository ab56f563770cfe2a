"""Real servers on loopback (Dovecot, Knot, an SMTP sink) and sample mail for tests and demos."""
