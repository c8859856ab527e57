"""Real processes, clients and documents on loopback, for tests and benchmarks.

Not part of the installed product: pyproject.toml's package list leaves it out of the wheel.
pytest imports it from the repository root; `bench/*.py` put the root on `sys.path` first.

- `processes`: start llmserver, chatbot or any command, wait until it answers, stop it;
  the child processes and peak memory of a running one.
- `socketclient`: a browser stand-in on the chatbot's Socket.IO connection.
- `documents`: PDFs and web pages built on the spot, a small web site serving them, and a
  `Rag` set up to crawl it.
- `uploads`: documents into a running chatbot, as the page sends them.
- `browser`: Debian's Chromium under Playwright, for the page's end-to-end tests.
- `inprocess`: `create_app` in this process with Flask-SocketIO's test client: a browser's
  cookie and its tabs, without a server.
- `fake_llm`: an OpenAI-style server on loopback whose answers a test scripts.
"""
