"""One answer, from a user's message to `done`: the steps (answering), their token budget,
retrieval and grounding, the prompt, the queue for the LLM's slots, streaming, the
transcript, slash commands, the client of the OpenAI-compatible server and the model
picker. Nothing here knows about HTTP or Socket.IO beyond an `emit` callable."""
