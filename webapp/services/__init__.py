"""The domain: verbs over the models. Services take the acting user as an argument and own the transaction."""
