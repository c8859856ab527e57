"""Users, sessions and sign-in throttling (accounts), the access rules (`Viewer`), and the
per-user limits."""
