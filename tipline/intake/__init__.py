"""The store both sites share: models, database, submission pipeline, queue and jobs."""
