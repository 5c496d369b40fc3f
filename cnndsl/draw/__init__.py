"""`cnndsl draw`: architecture diagrams (Graphviz, Mermaid, an interactive HTML report)."""
