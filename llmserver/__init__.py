"""llama.cpp-backed OpenAI-compatible server (llama-cpp-python does the serving)."""
