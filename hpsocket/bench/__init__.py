"""Echo benchmark of the hpsocket binding."""
