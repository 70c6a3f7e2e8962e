"""Developer tools that run from the command line, never inside the app: the module generator
(`python main.py generate`, docs/generator.md)."""
