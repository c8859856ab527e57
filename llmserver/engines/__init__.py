"""The inference engines behind the gateway: llama.cpp's `llama-server`, started and
supervised (the default), or llama-cpp-python in this process (`LLM_ENGINE`).

`base.Engine` is all the gateway knows of either; `base.make_engine` picks one.
"""
