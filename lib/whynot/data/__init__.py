"""whynot.data"""
