"""The knowledge base: articles that answer consultations, their versions, import, retrieval and evaluation."""
