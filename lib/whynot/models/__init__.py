"""whynot.models"""
