"""The Train tab: settings form, live curves, runs list and the environment dialog."""
