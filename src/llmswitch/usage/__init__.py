"""Usage accounting: prices (genai-prices, optional) and the SQLite usage log.

Nothing here is imported by ``import llmswitch``; the pricing module loads genai-prices only
when a call is first priced, and the log module loads sqlite3 only when the log is enabled.
"""

__all__: list[str] = []  # llmswitch.usage.log and llmswitch.usage.pricing
