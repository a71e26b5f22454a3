"""The assistant's prompt files (Markdown with `{name}` placeholders).

Edit the `.md` files here. They ship inside the package as `assistant.prompt_files`
(see pyproject.toml), so an installed wheel reads the same files; `assistant/prompts.py`
loads and checks them.
"""
