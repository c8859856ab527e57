"""Downloading a model from Hugging Face into MODELS_DIR: `llmserver pull` at the command
line, and `/v1/models/pull`, which runs that same command in a child process for the chat
page."""
