"""The catalog: HSDS-shaped organizations, services, locations and the rules for changing them.

This package imports none of caremap's other packages; they import it.
"""
