"""Audiences: rules compiled to SQL, exclusions with reasons, stable control/variant split."""
