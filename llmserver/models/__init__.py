"""The models llmserver offers: the GGUFs in MODELS_DIR under their aliases, each one's
`<alias>.yaml`, the chat format for those without a template, and their token counts."""
