"""whynot.metrics"""
