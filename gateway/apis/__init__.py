"""Other APIs at the edge: thin translations into the one chat path.

Each API here (``/v1/messages``: Anthropic Messages; ``/v1/responses``: OpenAI
Responses) is three translations and nothing else:

- its request, parsed strictly into its own wire models, becomes a validated
  ``gateway.protocol.ChatCompletionRequest`` (what it cannot express is refused
  with a 400 in the API's own error shape, never dropped);
- that request takes the chat path: classify, decide, call, record. No second
  copy of any stage lives here: what leaves for a target is what the chat path
  built and classified from the translated request;
- the chat answer comes back as the API's answer: a chat completion body, or
  the chat path's stream of ``chat.completion.chunk`` objects, turned into the
  API's own body or event stream.

The interchange is the chat API's wire shape (``chat_chunks`` reads the chat
path's SSE lines back into chunk objects), so the translations do not depend
on how the path is built inside.
"""
