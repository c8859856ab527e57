"""The operator's and user's commands besides serving: `chatbot users`, `chatbot jobs`,
`chatbot chat` (the terminal chat)."""
