"""Shared protections owned by no domain: masking personal data in text, neutralising spreadsheet cells, keeping
personal data and API keys out of logs, and the browser-side headers (docs/security.md)."""
