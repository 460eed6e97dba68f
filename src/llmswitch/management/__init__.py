"""Model-management clients for local servers (Ollama, llama.cpp, LM Studio)."""
