"""Wire formats both sides of the gateway share (pure): JSON bodies, and SSE
writing, reading and framing."""
