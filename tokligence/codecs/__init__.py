"""Upstream codecs (pure): a canonical request to a provider's body, and the
provider's answers back to canonical events."""
