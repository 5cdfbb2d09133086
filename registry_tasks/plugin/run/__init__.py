"""The run of one process: settings and images (`RegistryRun`), the checks made before any load, seeding,
progress, the master's and workers' agreement on fixtures, and whether the run did what it was asked.

The bottom of plugin/: it imports none of the other sub-packages (users/, open_model/, reporting/).
"""
