"""The control-room web page: live alerts with evidence, operator actions, camera health, live view,
effect statistics and false alarms exported as test fixtures. `create_router(backend, settings)` is what
the alerting web app mounts."""
