"""Translation between llmswitch's types and each wire format. No I/O lives here."""
