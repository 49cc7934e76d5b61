"""Real-browser tests (Chromium through Playwright) against the real program."""
