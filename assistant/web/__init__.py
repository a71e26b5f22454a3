"""The Gradio web page: the app, HTML rendering of an Answer, the timeline figure."""
