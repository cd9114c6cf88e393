"""Tests that drive a real browser (the system Chromium)."""
