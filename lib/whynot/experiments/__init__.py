"""whynot.experiments"""
