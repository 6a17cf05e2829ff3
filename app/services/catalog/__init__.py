"""The service catalog: the services incidents affect, who owns them, what they depend on."""
