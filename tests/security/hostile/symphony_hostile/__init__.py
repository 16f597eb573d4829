"""A hostile extension for the end-to-end security tests: it attacks its host on request.

Nothing here runs in the test process: the tests load it into sandboxed processes only.
"""
