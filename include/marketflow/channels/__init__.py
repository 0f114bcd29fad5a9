"""Channels: SMTP e-mail with an exactly-once ledger, the local sink, engagement events, ad audiences."""
