"""The Gradio web page: app, HTML rendering of an Answer, the timeline figure."""
