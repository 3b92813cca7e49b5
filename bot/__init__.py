"""Timebank bot: a community timebank inside a Telegram group."""
